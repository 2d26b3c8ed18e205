/**
 * libc through koffi: present on every host, so loading it never fails and
 * modules that only need libc (ring buffers by mmap, epoll, fcntl) can be
 * imported by anything without pulling in libbpf (see ffi.ts, loaded late).
 *
 * koffi conventions used here and in ffi.ts: pointers are BigInt (NULL is
 * null), and errno is only meaningful right after a call that failed.
 */
import koffi from 'koffi';

export type Pointer = bigint;

const libc = koffi.load('libc.so.6');

export const c = {
  close: libc.func('int close(int fd)'),
  dup: libc.func('int fcntl(int fd, int cmd, int arg)'),
  // F_GETFL/F_SETFL (the same libc fcntl as dup, named for what it does there).
  fcntl: libc.func('int fcntl(int fd, int cmd, int arg)'),
  vsnprintf: libc.func('int vsnprintf(void *buf, size_t size, const char *fmt, void *args)'),
  sysconf: libc.func('long sysconf(int name)'),
  mmap: libc.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, long offset)'),
  munmap: libc.func('int munmap(void *addr, size_t length)'),
  epoll_create1: libc.func('int epoll_create1(int flags)'),
  eventfd: libc.func('int eventfd(unsigned int initval, int flags)'),
  write: libc.func('long write(int fd, const void *buf, size_t count)'),
  epoll_ctl: libc.func('int epoll_ctl(int epfd, int op, int fd, void *event)'),
  // `events` is a caller-owned buffer of maxevents * EPOLL_EVENT_SIZE bytes.
  epoll_wait: libc.func('int epoll_wait(int epfd, void *events, int maxevents, int timeout)'),
  mallopt: libc.func('int mallopt(int param, int value)'),
  malloc_trim: libc.func('int malloc_trim(size_t pad)'),
  malloc: libc.func('void *malloc(size_t size)'),
  free: libc.func('void free(void *ptr)'),
  madvise: libc.func('int madvise(void *addr, size_t length, int advice)'),
};

/** glibc's M_TRIM_THRESHOLD and M_MMAP_THRESHOLD (malloc.h), and the former's default. */
const M_TRIM_THRESHOLD = -1;
const M_MMAP_THRESHOLD = -3;
const DEFAULT_TRIM_THRESHOLD = 128 * 1024;

/**
 * Has malloc give allocations of `bytes` or more their own mapping, returned
 * to the kernel when freed. glibc starts at 128 KiB but raises the threshold
 * to the size of each such block freed (up to 32 MiB), after which a
 * sampler's per-sample buffers (typed arrays of report tables, map batches)
 * come from the heap, and its fragments stayed: RSS grew by ~10 MB over
 * 1,000 samples of a 2,000-thread target (npm run bench, memory). Setting
 * the threshold also stops it from moving. Also undoes reuseLargeAllocations:
 * the heap is trimmed at glibc's default again, and what it kept is returned
 * now. Returns false where libc has no such setting.
 */
export function mapLargeAllocations(bytes = 64 * 1024): boolean {
  const set = c.mallopt(M_MMAP_THRESHOLD, bytes) === 1 && c.mallopt(M_TRIM_THRESHOLD, DEFAULT_TRIM_THRESHOLD) === 1;
  if (set) c.malloc_trim(0);
  return set;
}

/** Bytes of heap reuseLargeAllocations prepares: one object's BTF parse (~2 x 5.5 MB on 6.18) and room to spare. */
const REUSED_HEAP_BYTES = 24 * 1024 * 1024;
const HUGE_PAGE = 2n * 1024n * 1024n;
const MADV_HUGEPAGE = 14;

/**
 * The opposite, for a while: blocks up to 32 MiB come from the heap, and
 * freed ones stay there (up to 64 MiB at its top) to be handed out again.
 * For loading BPF objects in turn: libbpf parses the kernel's BTF for each
 * (a 5 MB read into a new buffer, copied into another), and fresh pages are
 * what that costs, a page fault each (~2,800 per parse); from the heap, the
 * next object's parse reuses the last one's pages. The first parse's pages
 * are made cheap too: the heap is grown by 24 MiB at once, and that range
 * asks for transparent huge pages (madvise; with THP at "madvise", the
 * usual setting, 2 MiB per fault, a dozen faults instead of thousands;
 * where THP is off the advice does nothing). Returns false where libc has
 * no such setting.
 */
export function reuseLargeAllocations(): boolean {
  if (c.mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024) !== 1 || c.mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024) !== 1) return false;
  const block = c.malloc(REUSED_HEAP_BYTES) as Pointer | null;
  if (block) {
    // The whole huge pages inside the block; freed, the block stays the heap's for the parses to take.
    const start = (block + HUGE_PAGE - 1n) & ~(HUGE_PAGE - 1n);
    const end = (block + BigInt(REUSED_HEAP_BYTES)) & ~(HUGE_PAGE - 1n);
    if (end > start) c.madvise(start, Number(end - start), MADV_HUGEPAGE);
    c.free(block);
  }
  return true;
}

export { koffi };

/**
 * sizeof(struct epoll_event): {u32 events; u64 data}. The kernel declares it
 * packed on x86-64 only (12 bytes); elsewhere, arm64 included, the u64 is
 * aligned and the struct is 16 bytes. A 12-byte buffer on arm64 would let
 * epoll_wait write 4 bytes past it.
 */
export const EPOLL_EVENT_SIZE = process.arch === 'x64' ? 12 : 16;

/** errno of the last failed call; read it immediately after the failure. */
export function lastErrno(): number {
  return koffi.errno();
}
