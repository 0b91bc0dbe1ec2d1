// The flags list, a flag's page, and the forms to flag and to retract.
export const FLAG_PAGES = {};
