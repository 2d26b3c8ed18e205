/**
 * libbpf's log. With --debug every message goes to stderr; otherwise messages
 * are kept (the last few warnings) so that a failure can be explained in one
 * line instead of a libbpf dump.
 */
import { bpf, c, koffi, PrintFn } from './ffi.js';

const LIBBPF_WARN = 0;
const LIBBPF_DEBUG = 2;
/**
 * libbpf prints a failed program's verifier log as one message, of up to its
 * log buffer's 16 MiB (BPF_LOG_BUF_SIZE, UINT32_MAX >> 8), and the verifier's
 * reason is its last line: under --debug the message must fit whole.
 */
const VERBOSE_MESSAGE_BYTES = (0xffffffff >>> 8) + 4096;

class LibbpfLog {
  private verbose = false;
  private recent: string[] = [];
  private installed = false;
  private buf = Buffer.alloc(4096);

  install(verbose: boolean) {
    this.verbose = verbose;
    if (verbose && this.buf.length < VERBOSE_MESSAGE_BYTES) this.buf = Buffer.allocUnsafe(VERBOSE_MESSAGE_BYTES);
    if (this.installed) return;
    this.installed = true;
    const callback = koffi.register((level: number, fmt: string, args: unknown) => {
      // Only a warning is kept without --debug: libbpf's ~1,400 info and debug messages of a start are not even formatted.
      if (level !== LIBBPF_WARN && !this.verbose) return 0;
      const n = c.vsnprintf(this.buf, this.buf.length, fmt, args);
      // Many of libbpf's own messages start with "libbpf: " already: one prefix, not two.
      const text = this.buf
        .toString('utf8', 0, Math.min(Math.max(n, 0), this.buf.length - 1))
        .trimEnd()
        .replace(/^libbpf: /, '');
      if (this.verbose && level <= LIBBPF_DEBUG) process.stderr.write(`libbpf: ${text}\n`);
      if (level === LIBBPF_WARN && text) {
        this.recent.push(text);
        if (this.recent.length > 8) this.recent.shift();
      }
      return 0;
    }, koffi.pointer(PrintFn));
    bpf.set_print(callback);
  }

  /**
   * The last warning libbpf printed, consumed so it explains one failure
   * only. Given an object's name, the last one naming it ('NAME', as
   * libbpf quotes it) is preferred: a warning about another object (a
   * shared map's, a probe's left over) does not explain this one's failure.
   */
  lastWarning(objectName?: string): string | undefined {
    const naming = objectName ? this.recent.filter((w) => w.includes(`'${objectName}'`)) : [];
    const last = naming.at(-1) ?? this.recent.at(-1);
    this.recent = [];
    return last;
  }
}

export const libbpfLog = new LibbpfLog();
