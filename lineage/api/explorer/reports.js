// The release diff, lightcurve and metric trend pages.
export const REPORT_PAGES = {};
