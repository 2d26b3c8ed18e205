/** The wall-clock stamps of the text report's lines. Pure: the time comes in as data (the driver reads the clock). */

const two = (n: number) => String(n).padStart(2, '0');

/**
 * "<message> @<local ISO time> (<HH:MM:SS> UTC)", as Python's
 * datetime.now().isoformat() prints it: microseconds, omitted when zero.
 */
export function timestampLine(message: string, epochMicros: number): string {
  const date = new Date(Math.floor(epochMicros / 1000));
  const micros = Math.floor(epochMicros) % 1_000_000;
  const local =
    `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())}` +
    `T${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}` +
    (micros ? `.${String(micros).padStart(6, '0')}` : '');
  const utc = `${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())}`;
  return `${message} @${local} (${utc} UTC)`;
}
