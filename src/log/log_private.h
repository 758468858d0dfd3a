/*
 * Private to src/log: the journal sink (journal.c) as log.c calls it.
 */
#ifndef COFFRE_LOG_PRIVATE_H
#define COFFRE_LOG_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>

/* One entry to the journal, if log_use_journal() connected: true if sent
 * (the caller writes the line to stderr otherwise).  msg without its
 * newline; class NULL or a word such as "tamper". */
bool log_journal_send(int prio, const char *msg, size_t len, const char *class);
/* Whether log_use_journal() connected. */
bool log_journal_active(void);

#endif
