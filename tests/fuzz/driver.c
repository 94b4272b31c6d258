/*
 * Runs a fuzz target without libFuzzer, so every `make test` exercises it:
 * each file named on the command line once, or else the target's seeds and
 * a fixed number of deterministic mutations of them (bit flips, byte
 * inserts and deletes, truncation, splices). A crash, a sanitizer report or
 * a failed invariant inside the target fails the test.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#define MAX_INPUT 4096

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static size_t mutate(uint8_t *buf, size_t len, size_t cap)
{
	unsigned rounds = 1 + next() % 4;

	for (unsigned r = 0; r < rounds; r++) {
		size_t pos = len ? next() % len : 0;

		switch (next() % 6) {
		case 0: /* flip a bit */
			if (len)
				buf[pos] ^= (uint8_t)(1u << (next() % 8));
			break;
		case 1: /* replace a byte with an interesting one */
			if (len) {
				static const uint8_t pick[] = {'"', '\\', '{',  '}',  '[',
				                               ']', ',',  ':',  '0',  '-',
				                               'e', 0x00, 0x80, 0xc3, 0xff};
				buf[pos] = pick[next() % sizeof(pick)];
			}
			break;
		case 2: /* insert a byte */
			if (len < cap) {
				memmove(buf + pos + 1, buf + pos, len - pos);
				buf[pos] = (uint8_t)next();
				len++;
			}
			break;
		case 3: /* delete a byte */
			if (len) {
				memmove(buf + pos, buf + pos + 1, len - pos - 1);
				len--;
			}
			break;
		case 4: /* truncate */
			len = pos;
			break;
		default: /* duplicate a span */
			if (len && len < cap) {
				size_t n = 1 + next() % (len - pos);

				if (n > cap - len)
					n = cap - len;
				memmove(buf + pos + n, buf + pos, len - pos);
				len += n;
			}
			break;
		}
	}
	return len;
}

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	size_t n;

	if (!f) {
		perror(path);
		return 1;
	}
	buf = malloc(1 << 24);
	n = buf ? fread(buf, 1, 1 << 24, f) : 0;
	fclose(f);
	if (!buf)
		return 1;
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	const char *env = getenv("ATR_FUZZ_RUNS");
	unsigned long runs = env ? strtoul(env, NULL, 10) : 20000;
	uint8_t *buf = malloc(MAX_INPUT);
	size_t nseeds = 0;

	if (argc > 1) {
		for (int i = 1; i < argc; i++)
			if (run_file(argv[i]))
				return 1;
		return 0;
	}
	while (fuzz_seeds[nseeds])
		nseeds++;
	for (size_t i = 0; i < nseeds; i++)
		LLVMFuzzerTestOneInput((const uint8_t *)fuzz_seeds[i], strlen(fuzz_seeds[i]));
	for (unsigned long r = 0; r < runs; r++) {
		const char *seed = fuzz_seeds[next() % nseeds];
		size_t len = strlen(seed);
		uint8_t *copy;

		memcpy(buf, seed, len);
		len = mutate(buf, len, MAX_INPUT);
		/* An exact-size copy, so ASan sees any read past the end. */
		copy = malloc(len ? len : 1);
		memcpy(copy, buf, len);
		LLVMFuzzerTestOneInput(copy, len);
		free(copy);
	}
	free(buf);
	printf("%s: %zu seeds, %lu mutated inputs: 1 passed, 0 failed\n", argv[0], nseeds, runs);
	return 0;
}
