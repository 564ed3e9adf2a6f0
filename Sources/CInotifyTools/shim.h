#include <sys/inotify.h>
#include <inotifytools/inotifytools.h>

/* inotify_event.name is a flexible array member, which Swift does not import. */
static inline const char *cinotify_event_name(const struct inotify_event *event) {
    return event->len > 0 ? event->name : "";
}
