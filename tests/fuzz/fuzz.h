/*
 * Vexil fuzz targets — the libFuzzer entry points every target defines.
 *
 * Each fuzz_*.c is built twice: with clang and -fsanitize=fuzzer as a
 * libFuzzer binary (cmake -DVX_FUZZ=ON, tools/fuzz), and with any compiler
 * against replay.c, a main() that runs every file of the committed corpus
 * and of the crash reproducers (tests/fuzz/regress/<target>/) through the
 * same function, so ctest replays them in the plain and sanitizer builds.
 * A target returns 0 for any input and abort()s when an invariant breaks.
 */
#ifndef VX_FUZZ_H
#define VX_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Prints why an invariant broke and aborts (the fuzzer saves the input). */
#define VX_FUZZ_ASSERT(cond, ...)                                             \
	do {                                                                  \
		if (!(cond)) {                                                \
			fprintf(stderr, "fuzz invariant broken: %s: ", #cond); \
			fprintf(stderr, __VA_ARGS__);                         \
			fputc('\n', stderr);                                  \
			abort();                                              \
		}                                                             \
	} while (0)

#endif
