# Build-time conversion of a binary PPM (P6, maxval 255) into C:
#   cmake -DIN=image.ppm -DOUT_C=image.c -DOUT_H=image.h -P image_to_c.cmake
# writes `const uint8_t image_pixels[IMAGE_BYTES]` (rows top to bottom, RGB per pixel: the HWC
# layout of a [1, H, W, 3] model input) and IMAGE_WIDTH / IMAGE_HEIGHT / IMAGE_BYTES.
file(READ "${IN}" head LIMIT 20)
if(NOT head MATCHES "^P6[ \t\r\n]+([0-9]+)[ \t\r\n]+([0-9]+)[ \t\r\n]+255[ \t\r\n]")
    message(FATAL_ERROR "${IN}: not a binary PPM (P6) with maxval 255")
endif()
set(width ${CMAKE_MATCH_1})
set(height ${CMAKE_MATCH_2})
string(LENGTH "${CMAKE_MATCH_0}" offset)
math(EXPR bytes "${width} * ${height} * 3")
file(READ "${IN}" hex OFFSET ${offset} HEX)
string(LENGTH "${hex}" nhex)
math(EXPR got "${nhex} / 2")
if(NOT got EQUAL bytes)
    message(FATAL_ERROR "${IN}: ${got} pixel bytes, expected ${width}x${height}x3 = ${bytes}")
endif()
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
string(REGEX REPLACE "((0x..,){24})" "\\1\n    " body "${body}")
file(WRITE "${OUT_H}" "/* Generated from ${IN} by image_to_c.cmake. */
#ifndef IMAGE_H
#define IMAGE_H
#include <stdint.h>
#define IMAGE_WIDTH ${width}
#define IMAGE_HEIGHT ${height}
#define IMAGE_BYTES ${bytes}
extern const uint8_t image_pixels[IMAGE_BYTES];
#endif
")
file(WRITE "${OUT_C}" "/* Generated from ${IN} by image_to_c.cmake. */
#include \"image.h\"
const uint8_t image_pixels[IMAGE_BYTES] = {
    ${body}
};
")
