/**
 * Text that came from a bundle, a guest or the target (row labels, warnings,
 * thread names, error details) is printed only after its control characters
 * are escaped: a newline, carriage return or terminal escape in it could
 * otherwise forge report lines (`# Sample dump ...`) or drive the terminal.
 */

// C0 controls, DEL and C1 controls (U+0080-U+009F act as controls on some terminals).
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/** Every control character as \xNN (\n and \t included): one line, nothing interpreted. */
export function printable(text: string): string {
  return text.replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** Where a warning continues on a new line: aligned under the text after "# WARNING: ". */
export const WARNING_CONTINUATION = '\n#          ';

/**
 * A guest's warning: control characters escaped, except that a newline
 * starts a continuation line the host prefixes, so a warning may span lines
 * (as the reference's do) but never starts a line of its own choosing.
 */
export function printableWarning(text: string): string {
  return text.split('\n').map(printable).join(WARNING_CONTINUATION);
}

/** Whether text has a control character (manifests, which are static, may not). */
export const hasControlCharacters = (text: string): boolean => printable(text) !== text;
