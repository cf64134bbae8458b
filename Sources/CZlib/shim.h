// zlib (on every Linux and macOS): gunzip for IDX files (Data/IDX.swift).
#include <zlib.h>
