// The flags, release diff, lightcurve and metric pages.
export const PAGES = {};
