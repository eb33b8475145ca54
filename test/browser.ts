/** Where the browser tests find Chromium: Debian's package, installed by `npm test`'s set-up when missing. */
import { loadEnv } from '../lib/env';

export const CHROMIUM_PATH = loadEnv().CHROMIUM_PATH;
