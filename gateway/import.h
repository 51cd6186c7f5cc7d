/* import.h — `gatewayd accounts import`: subscribers from a CSV file, all or nothing. */
#ifndef GW_IMPORT_H
#define GW_IMPORT_H

/* Imports path ("-" = stdin). Prints a summary, or every bad row with its line number and
 * imports nothing. Returns a process exit code. */
/* as_of: the moment of the file's balances (required when it has a balance column), in tz unless it
 * names an offset. */
int accounts_import(const char *conninfo, const char *path, const char *as_of, const char *tz);

#endif
