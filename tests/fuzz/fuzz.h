/* What every fuzz target provides: the libFuzzer entry point and its seeds. */
#ifndef ATR_FUZZ_H
#define ATR_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* NULL-terminated list of valid inputs that mutations start from. */
extern const char *const fuzz_seeds[];

/* A failed invariant: print it and abort, so the run fails loudly. */
#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__,       \
			        #cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#endif
