import * as fs from 'node:fs';
import * as path from 'node:path';
import { defaultStackDir } from '../../stack/paths';
import { stackDown } from '../../stack/stack';

/** Stops the stack only when the test run started it; a stack the developer had running stays up. */
export default async function globalTeardown(): Promise<void> {
  const dir = defaultStackDir();
  const marker = path.join(dir, 'started-by-tests');
  if (!fs.existsSync(marker)) return;
  const ours = JSON.parse(fs.readFileSync(marker, 'utf8')) as ('temporal' | 's3' | 'simulator')[];
  fs.rmSync(marker);
  if (ours.length > 0 && process.env.MJ_BATCH_KEEP_STACK !== '1') await stackDown({ dir, only: ours });
}
