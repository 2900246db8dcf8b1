/** stdout carries results (human text or one JSON object); stderr carries progress, so `--json | jq` stays clean. */
export function progress(line: string): void {
  process.stderr.write(`${line}\n`);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printLines(lines: string[]): void {
  process.stdout.write(lines.map((l) => `${l}\n`).join(''));
}
