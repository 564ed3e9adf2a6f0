#include <png.h>

/* Compound and function-like macros are not imported by Swift; re-export the ones the decoder needs. */
static const png_uint_32 CPNG_FORMAT_RGBA = PNG_FORMAT_RGBA;
static const png_uint_32 CPNG_IMAGE_VERSION = PNG_IMAGE_VERSION;
static const png_uint_32 CPNG_IMAGE_FLAG_16BIT_sRGB = PNG_IMAGE_FLAG_16BIT_sRGB;

static inline int cpng_image_failed(const png_image *image) {
    return PNG_IMAGE_FAILED(*image);
}
