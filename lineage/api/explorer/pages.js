// The pages other than search and lineage: flags (flags.js); release diff, lightcurve and
// metric trend (reports.js).
import { FLAG_PAGES } from "./flags.js";
import { REPORT_PAGES } from "./reports.js";

export const PAGES = { ...FLAG_PAGES, ...REPORT_PAGES };
