/* import.h — `gatewayd accounts import`: subscribers from a CSV file, all or nothing. */
#ifndef GW_IMPORT_H
#define GW_IMPORT_H

/* Imports path ("-" = stdin). Prints a summary, or every bad row with its line number and
 * imports nothing. Returns a process exit code. */
int accounts_import(const char *conninfo, const char *path);

#endif
