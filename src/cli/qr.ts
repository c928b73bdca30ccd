/**
 * A QR code in the terminal: two module rows per text line with the half-block characters, and
 * the quiet zone of 4 modules the standard asks for (scanners need it to find the code).
 *
 * The encoder is `qrcode-generator` (npm, pinned in deno.json). With colour allowed the code is
 * drawn black on white with ANSI colours, so it scans on dark and light terminals alike; with
 * `NO_COLOR` set it is drawn as `qrencode -t UTF8` does, light modules in the text colour, which
 * scans on a terminal with a dark background.
 *
 * @module
 */

import qrcode from "qrcode-generator";

/** Modules of white border around the code (ISO/IEC 18004: at least 4). */
export const qrQuietZoneModules = 4;

/**
 * Longest text encoded: a contact URI is at most 318 characters and a share string at most 458;
 * 512 keeps the code (version ≤ 20, 97 modules) narrower than a wide terminal.
 */
export const qrTextLengthMax = 512;

/** The modules of a QR code. */
export interface QrMatrix {
  /** Modules per side. */
  size: number;
  /** Whether the module at row `r`, column `c` is dark. */
  dark(r: number, c: number): boolean;
}

/**
 * Encodes text as a QR code at error correction level M (15% of the code may be lost), in
 * alphanumeric mode when the text allows it (upper case, digits and ` $%*+-./:`), else bytes.
 *
 * @param text The text.
 * @returns The modules.
 * @throws {RangeError} When the text is longer than {@link qrTextLengthMax}.
 */
export function encodeQr(text: string): QrMatrix {
  if (text.length > qrTextLengthMax) {
    throw new RangeError(
      `Cannot draw a QR code: the text is ${text.length} characters, the limit is ${qrTextLengthMax}`,
    );
  }
  const qr = qrcode(0, "M");
  qr.addData(text, /^[0-9A-Z $%*+\-./:]*$/.test(text) ? "Alphanumeric" : "Byte");
  qr.make();
  const size = qr.getModuleCount();
  return { size, dark: (r, c) => qr.isDark(r, c) };
}

/**
 * Draws a QR code as text lines.
 *
 * @param matrix The modules.
 * @param options `color`: black on white with ANSI colours (default), else light modules in the
 *   text colour.
 * @returns The lines, joined with line feeds, without a final one.
 */
export function renderQr(matrix: QrMatrix, options: { color: boolean }): string {
  const edge = qrQuietZoneModules;
  const span = matrix.size + 2 * edge;
  const dark = (r: number, c: number) =>
    r >= edge && r < edge + matrix.size && c >= edge && c < edge + matrix.size &&
    matrix.dark(r - edge, c - edge);
  const lines: string[] = [];
  for (let r = 0; r < span; r += 2) {
    let line = "";
    for (let c = 0; c < span; c++) {
      // The top half is row r, the bottom half row r + 1 (light below the last row).
      const top = dark(r, c);
      const bottom = r + 1 < span && dark(r + 1, c);
      // With colour, ink is dark; without, ink is light (a dark terminal's background is dark).
      const inkTop = options.color ? top : !top;
      const inkBottom = options.color ? bottom : !bottom && r + 1 < span;
      line += inkTop ? (inkBottom ? "█" : "▀") : (inkBottom ? "▄" : " ");
    }
    lines.push(options.color ? `\x1b[30;47m${line}\x1b[0m` : line);
  }
  return lines.join("\n");
}

/**
 * Reads the modules back from {@link renderQr}'s output: what a test uses to check the drawing.
 *
 * @param text The drawing.
 * @param options As it was drawn.
 * @returns Whether each module (quiet zone included) is dark, row by row.
 */
export function readRenderedQr(text: string, options: { color: boolean }): boolean[][] {
  const rows: boolean[][] = [];
  for (const raw of text.split("\n")) {
    // deno-lint-ignore no-control-regex
    const line = raw.replace(/\x1b\[[0-9;]*m/g, "");
    const top: boolean[] = [];
    const bottom: boolean[] = [];
    for (const char of line) {
      const inkTop = char === "█" || char === "▀";
      const inkBottom = char === "█" || char === "▄";
      top.push(options.color ? inkTop : !inkTop);
      bottom.push(options.color ? inkBottom : !inkBottom);
    }
    rows.push(top, bottom);
  }
  return rows;
}
