#include <libpq-fe.h>
#include <postgres_ext.h>

/* PG_DIAG_* are character-literal macros, which Swift does not import. */
static const int CPQ_DIAG_SQLSTATE = 'C';
static const int CPQ_DIAG_MESSAGE_PRIMARY = 'M';
static const int CPQ_DIAG_MESSAGE_DETAIL = 'D';
