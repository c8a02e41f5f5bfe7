/*
 * Vexil fuzz targets — replaying inputs without libFuzzer.
 *
 * `replay_<target> PATH...` runs LLVMFuzzerInitialize once, then every
 * file named, and every file in every directory named (one level, in name
 * order), through LLVMFuzzerTestOneInput. A broken invariant aborts, so a
 * committed crash reproducer fails ctest until its bug is fixed, in the
 * plain build and under ASan and UBSan alike. A missing directory is
 * fine (a target may have no reproducers yet); an empty run is not.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int
run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "replay: cannot read %s: %s\n", path, strerror(errno));
		if (f != NULL)
			fclose(f);
		return -1;
	}
	/* A copy of exactly n bytes, so ASan sees any read past the input. */
	if ((buf = malloc(n ? (size_t)n : 1)) == NULL ||
	    fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "replay: cannot read %s\n", path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	free(buf);
	return 0;
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
main(int argc, char **argv)
{
	size_t ran = 0;
	int bad = 0;

	LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		struct stat sb;
		DIR *d;
		struct dirent *e;
		char **names = NULL, path[4096];
		size_t n = 0;

		if (stat(argv[i], &sb) != 0)
			continue;
		if (!S_ISDIR(sb.st_mode)) {
			bad |= run_file(argv[i]) != 0;
			ran++;
			continue;
		}
		if ((d = opendir(argv[i])) == NULL)
			continue;
		while ((e = readdir(d)) != NULL) {
			if (e->d_name[0] == '.')
				continue;
			names = realloc(names, (n + 1) * sizeof(*names));
			names[n++] = strdup(e->d_name);
		}
		closedir(d);
		qsort(names, n, sizeof(*names), by_name);
		for (size_t j = 0; j < n; j++) {
			snprintf(path, sizeof(path), "%s/%s", argv[i], names[j]);
			fprintf(stderr, "replay: %s\n", path);
			bad |= run_file(path) != 0;
			ran++;
			free(names[j]);
		}
		free(names);
	}
	printf("replayed %zu inputs\n", ran);
	return bad || ran == 0 ? 1 : 0;
}
