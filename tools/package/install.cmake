# Installing and packaging Vexil, included by the top CMakeLists.txt.
#
# cmake --install puts vexild, vexil-gateway and vexilctl in bin/; libvexil
# in lib/ as a shared library (libvexil.so.0, exporting only its public
# API) and a static archive, both self-contained (client, wire binding,
# engine and the generated codecs in one); the public headers in
# include/vexil/ with vexil.pc; the gateway's /docs and /redoc assets in
# share/vexil/assets (the gateway looks there, relative to its own bin/);
# the systemd units; and the README in share/doc/vexil. `cpack -G DEB`
# makes a .deb of the same. tests/install checks both.

# ---- libvexil as installed ----
# The objects of the in-tree libraries libvexil is made of. Their symbols
# are hidden (C_VISIBILITY_PRESET, set where they are defined) but for
# the declarations of the public headers (clients/c/include/vexil, inside
# `#pragma GCC visibility push(default)`) and the generated codecs
# (vexil__v1__*), so the shared library exports the public API only.
set(VX_LIBVEXIL_PARTS vexil vx_wire vx_model vx_eval vx_common vx_gen)
set(VX_LIBVEXIL_OBJECTS)
foreach(t ${VX_LIBVEXIL_PARTS})
  list(APPEND VX_LIBVEXIL_OBJECTS $<TARGET_OBJECTS:${t}>)
endforeach()
pkg_check_modules(VX_PC_PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
find_library(VX_MBEDTLS mbedtls REQUIRED)

add_library(vexil_shared SHARED ${VX_LIBVEXIL_OBJECTS})
target_link_libraries(vexil_shared PRIVATE nng::nng PkgConfig::PROTOBUFC
  PkgConfig::VX_PC_PCRE2 ${VX_MBEDX509} ${VX_MBEDCRYPTO} Threads::Threads m)
# Every symbol resolved at link time; not under the sanitizers, whose
# runtime (clang's, and libFuzzer's coverage hooks) only the executable has.
if(NOT VX_SANITIZE AND NOT VX_FUZZ)
  target_link_options(vexil_shared PRIVATE -Wl,--no-undefined)
endif()
add_library(vexil_static STATIC ${VX_LIBVEXIL_OBJECTS})
# Both are build/lib/libvexil.*, apart from the in-tree static `vexil`
# (build/libvexil.a, which the binaries and tests link).
set_target_properties(vexil_shared vexil_static PROPERTIES
  OUTPUT_NAME vexil LINKER_LANGUAGE C
  LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/lib
  ARCHIVE_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/lib)
set_target_properties(vexil_shared PROPERTIES
  VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR})

# ---- what goes where ----
install(TARGETS vexild vexil-gateway vexilctl
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS vexil_shared vexil_static
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})

# The public headers: ours, and the generated message types and typed
# calls they use (which include only protobuf-c's header and each other).
file(GLOB VX_PUBLIC_HEADERS CONFIGURE_DEPENDS
  ${CMAKE_SOURCE_DIR}/clients/c/include/vexil/*.h)
install(FILES ${VX_PUBLIC_HEADERS} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/vexil)
set(VX_GEN_HEADERS ${CMAKE_SOURCE_DIR}/gen/vexil/v1/stubs.h)
foreach(p ${VX_PROTOS})
  list(APPEND VX_GEN_HEADERS ${CMAKE_SOURCE_DIR}/gen/vexil/v1/${p}.pb-c.h)
endforeach()
install(FILES ${VX_GEN_HEADERS} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/vexil/v1)

# vexil.pc finds its prefix from its own place (${pcfiledir} and the way
# up from the pkgconfig dir), so an install moved elsewhere still links;
# but /usr is written as it is, for pkg-config to drop -I/usr/include (an
# -I of the system's own dir would break gcc's #include_next).
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(VX_PC_PREFIX /usr)
else()
  file(RELATIVE_PATH VX_PC_UP ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig
    ${CMAKE_INSTALL_PREFIX})
  string(REGEX REPLACE "/$" "" VX_PC_UP "${VX_PC_UP}")
  set(VX_PC_PREFIX "\${pcfiledir}/${VX_PC_UP}")
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/vexil.pc.in ${CMAKE_BINARY_DIR}/vexil.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/vexil.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# The gateway's /docs and /redoc assets: the files of dialect_docs.c's
# allowlist, from web/node_modules (./tools/dev installs it; npm ci in
# web/), with their licences. Without them the install still works and
# /docs answers 503 saying what is missing.
set(VX_ASSET_FILES
  swagger-ui-dist/swagger-ui.css swagger-ui-dist/swagger-ui-bundle.js
  swagger-ui-dist/favicon-32x32.png swagger-ui-dist/LICENSE
  redoc/bundles/redoc.standalone.js redoc/LICENSE)
set(VX_ASSETS_SRC ${CMAKE_SOURCE_DIR}/web/node_modules)
# Looked for when installing, not when configuring: ./tools/dev up fetches
# them while the build runs, so a configure may come first.
foreach(f ${VX_ASSET_FILES})
  get_filename_component(d ${f} DIRECTORY)
  install(FILES ${VX_ASSETS_SRC}/${f} OPTIONAL
    DESTINATION ${CMAKE_INSTALL_DATADIR}/vexil/assets/${d})
endforeach()
install(CODE "
  foreach(f ${VX_ASSET_FILES})
    if(NOT EXISTS \"${VX_ASSETS_SRC}/\${f}\")
      message(WARNING \"web/node_modules lacks \${f}: this installed gateway \"
        \"will answer /docs and /redoc with 503 (npm ci --omit=dev in web/, \"
        \"then install again)\")
    endif()
  endforeach()")
file(RELATIVE_PATH VX_INSTALL_ASSETS_REL ${CMAKE_INSTALL_FULL_BINDIR}
  ${CMAKE_INSTALL_FULL_DATADIR}/vexil/assets)
target_compile_definitions(vexil-gateway PRIVATE
  VX_INSTALL_ASSETS_REL="${VX_INSTALL_ASSETS_REL}")

# systemd units (the binaries' paths are the configured prefix's: build
# the package with -DCMAKE_INSTALL_PREFIX=/usr) and the README.
foreach(u vexild vexil-gateway)
  configure_file(${CMAKE_CURRENT_LIST_DIR}/${u}.service.in
    ${CMAKE_BINARY_DIR}/${u}.service @ONLY)
  install(FILES ${CMAKE_BINARY_DIR}/${u}.service DESTINATION lib/systemd/system)
endforeach()
install(FILES ${CMAKE_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})

# ---- the .deb: cpack -G DEB in the build dir ----
set(CPACK_PACKAGE_NAME vexil)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "Vexil maintainers <vexil@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "feature-flag service: vexild, vexil-gateway, vexilctl and libvexil")
set(CPACK_PACKAGE_DESCRIPTION "Vexil keeps feature flags in LMDB behind vexild \
(protobuf over nng), serves four REST dialects and OpenFeature's OFREP through \
vexil-gateway, and ships vexilctl and the C client library libvexil \
(headers and vexil.pc included).")
# The package installs where the build was configured to (its units name
# those paths): /usr with -DCMAKE_INSTALL_PREFIX=/usr.
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
# Stripped, as Debian ships binaries (the build keeps its debug info).
set(CPACK_STRIP_FILES ON)
# Depends: the Debian runtime packages of the libraries the binaries
# link, found by dpkg-shlibdeps; adduser for postinst.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
# triggers: ldconfig runs after installing libvexil.so.0.
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${CMAKE_CURRENT_LIST_DIR}/postinst ${CMAKE_CURRENT_LIST_DIR}/prerm
  ${CMAKE_CURRENT_LIST_DIR}/postrm ${CMAKE_CURRENT_LIST_DIR}/triggers)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_GENERATOR DEB)
include(CPack)
