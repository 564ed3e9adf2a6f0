#include <cblas.h>
/* mallopt: the Detector keeps large activation blocks in the heap (see BLASThreads.keepLargeBlocks). */
#include <malloc.h>

static const int CMALLOC_MMAP_THRESHOLD = M_MMAP_THRESHOLD;
static const int CMALLOC_TRIM_THRESHOLD = M_TRIM_THRESHOLD;
