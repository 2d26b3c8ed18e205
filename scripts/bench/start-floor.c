// SPDX-License-Identifier: Apache-2.0
/*
 * start-floor.c - the start-up floor (bench.mjs, section start): replays a
 * journal of kdelay's libbpf calls (start-journal.mjs) with libbpf in C,
 * then prints "attached" and waits to be stopped. What it costs is what any libbpf tool
 * pays to load and attach the same objects, configured the same way: the
 * kernel's map creation and verification, libbpf's BTF parsing and
 * relocation. The bench times it from spawn to that line, beside the same
 * program with no journal (a C process's own start).
 *
 *   start-floor [--reuse-heap] JOURNAL   (no journal: print "attached" at once)
 *
 * --reuse-heap prepares the heap as kdelay does while it loads
 * (reuseLargeAllocations in host/libbpf/libc.ts): libbpf parses the kernel's
 * BTF into fresh blocks of several MB for every object, and with glibc's
 * defaults each parse maps and faults in new pages; kept on the heap, the
 * next object's parse reuses the last one's. Without it, the floor is a
 * libbpf tool as most are written.
 *
 * Journal lines (one libbpf call each, in kdelay's order):
 *   map ID TYPE KEY_SIZE VALUE_SIZE MAX_ENTRIES NAME   a map the host creates
 *   open N FILE NAME                                   bpf_object__open_mem of an object
 *   global N VAR HEX                                   a global's initial value
 *   max N MAP ENTRIES / autoload N PROG 0|1
 *   reuse N MAP created ID | reuse N MAP object M MAP2 one map shared into object N
 *   load N / attach N PROG
 */
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAX_ITEMS 64

static struct bpf_object *objects[MAX_ITEMS];
static int created_fds[MAX_ITEMS];

static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("start-floor: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static struct bpf_object *object(int n)
{
	if (n < 0 || n >= MAX_ITEMS || !objects[n])
		fail("no object %d", n);
	return objects[n];
}

static struct bpf_map *map_of(int n, const char *name)
{
	struct bpf_map *map;

	/* Internal maps are "<object name prefix>.rodata": match the suffix, as the host does. */
	bpf_object__for_each_map(map, object(n))
	{
		const char *have = bpf_map__name(map);
		size_t lh = strlen(have), ln = strlen(name);

		if (!strcmp(have, name) || (name[0] == '.' && lh >= ln && !strcmp(have + lh - ln, name)))
			return map;
	}
	fail("object %d has no map %s", n, name);
	return NULL;
}

static int unhex(const char *hex, unsigned char *out, size_t room)
{
	size_t n = 0;

	if (!strcmp(hex, "-"))
		return 0;
	for (; hex[0] && hex[1]; hex += 2) {
		unsigned int byte;

		if (n == room || sscanf(hex, "%2x", &byte) != 1)
			fail("bad hex value");
		out[n++] = byte;
	}
	return n;
}

/* Writes a global's initial value: found, as the host finds it, through the object's BTF data sections. */
static void set_global(int n, const char *var, const unsigned char *value, int size)
{
	static const char *sections[] = { ".rodata", ".data", ".bss" };
	struct btf *btf = bpf_object__btf(object(n));

	for (int s = 0; s < 3; s++) {
		int id = btf__find_by_name_kind(btf, sections[s], BTF_KIND_DATASEC);
		const struct btf_type *sec;
		const struct btf_var_secinfo *info;

		if (id < 0)
			continue;
		sec = btf__type_by_id(btf, id);
		info = btf_var_secinfos(sec);
		for (int i = 0; i < btf_vlen(sec); i++, info++) {
			const struct btf_type *type = btf__type_by_id(btf, info->type);
			size_t room;
			char *data;

			if (!btf_is_var(type) || strcmp(btf__name_by_offset(btf, type->name_off), var))
				continue;
			data = (char *)bpf_map__initial_value(map_of(n, sections[s]), &room);
			if (!data || (int)info->size != size || info->offset + info->size > room)
				fail("object %d: cannot set %s", n, var);
			memcpy(data + info->offset, value, size);
			return;
		}
	}
	fail("object %d has no global %s", n, var);
}

/* Warnings only, as kdelay keeps them without --debug: formatting libbpf's other messages is not part of the floor. */
static int warnings_only(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

/* The same settings as kdelay's reuseLargeAllocations(), with the same numbers. */
static void reuse_heap(void)
{
	const size_t block_bytes = 24 << 20, huge_page = 2 << 20;
	char *block;

	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	block = malloc(block_bytes);
	if (block) {
		size_t start = ((size_t)block + huge_page - 1) & ~(huge_page - 1);
		size_t end = ((size_t)block + block_bytes) & ~(huge_page - 1);

		if (end > start)
			madvise((void *)start, end - start, MADV_HUGEPAGE);
		free(block);
	}
}

static void *read_file(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	void *data;

	if (!f || fseek(f, 0, SEEK_END))
		fail("cannot read %s", path);
	*size = ftell(f);
	rewind(f);
	data = malloc(*size);
	if (!data || fread(data, 1, *size, f) != *size)
		fail("cannot read %s", path);
	fclose(f);
	return data;
}

/* Says so and waits for the bench's SIGINT: it reads this process's CPU time at the line, from /proc. */
static int attached(void)
{
	puts("attached");
	fflush(stdout);
	pause();
	return 0;
}

int main(int argc, char **argv)
{
	char line[8192], a[256], b[256], c[4096], d[256];
	int n, m, id, type, key, value, entries;
	FILE *journal;

	if (argc > 1 && !strcmp(argv[1], "--reuse-heap")) {
		reuse_heap();
		argc--;
		argv++;
	}
	if (argc < 2)
		return attached();
	libbpf_set_print(warnings_only);
	journal = fopen(argv[1], "r");
	if (!journal)
		fail("cannot open %s", argv[1]);
	while (fgets(line, sizeof(line), journal)) {
		if (sscanf(line, "map %d %d %d %d %d %255s", &id, &type, &key, &value, &entries, a) == 6) {
			if (id < 0 || id >= MAX_ITEMS)
				fail("map id %d", id);
			created_fds[id] = bpf_map_create(type, a, key, value, entries, NULL);
			if (created_fds[id] < 0)
				fail("creating map %s: %s", a, strerror(errno));
		} else if (sscanf(line, "open %d %255s %255s", &n, a, b) == 3) {
			size_t size;
			void *elf = read_file(a, &size);
			LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = b);

			if (n < 0 || n >= MAX_ITEMS)
				fail("object %d", n);
			objects[n] = bpf_object__open_mem(elf, size, &opts);
			if (!objects[n])
				fail("opening %s: %s", b, strerror(errno));
		} else if (sscanf(line, "global %d %255s %4095s", &n, a, c) == 3) {
			unsigned char bytes[2048];

			set_global(n, a, bytes, unhex(c, bytes, sizeof(bytes)));
		} else if (sscanf(line, "max %d %255s %d", &n, a, &entries) == 3) {
			if (bpf_map__set_max_entries(map_of(n, a), entries))
				fail("object %d: resizing %s", n, a);
		} else if (sscanf(line, "autoload %d %255s %d", &n, a, &value) == 3) {
			struct bpf_program *prog = bpf_object__find_program_by_name(object(n), a);

			if (!prog || bpf_program__set_autoload(prog, value))
				fail("object %d: autoload of %s", n, a);
		} else if (sscanf(line, "reuse %d %255s created %d", &n, a, &id) == 3) {
			if (id < 0 || id >= MAX_ITEMS || bpf_map__reuse_fd(map_of(n, a), created_fds[id]))
				fail("object %d: sharing %s", n, a);
		} else if (sscanf(line, "reuse %d %255s object %d %255s", &n, a, &m, d) == 4) {
			if (bpf_map__reuse_fd(map_of(n, a), bpf_map__fd(map_of(m, d))))
				fail("object %d: sharing %s", n, a);
		} else if (sscanf(line, "load %d", &n) == 1) {
			if (bpf_object__load(object(n)))
				fail("loading object %d: %s", n, strerror(errno));
		} else if (sscanf(line, "attach %d %255s", &n, a) == 2) {
			struct bpf_program *prog = bpf_object__find_program_by_name(object(n), a);

			if (!prog || !bpf_program__attach(prog))
				fail("object %d: attaching %s", n, a);
		} else {
			fail("cannot read journal line: %s", line);
		}
	}
	return attached();
}
