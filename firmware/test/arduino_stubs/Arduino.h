/* Host-only stand-in used by tests/test_firmware.py to syntax-check the sketch with g++.
 * Declares just what fleetscan_node.ino uses; not the real library. */
#pragma once
#include <stdint.h>
#include <stddef.h>
#include <math.h>
#include <string.h>
#include <stdio.h>
#include <stdarg.h>
struct String { const char* c_str() const { return ""; } };
struct HardwareSerial {
  void begin(unsigned long) {}
  int printf(const char*, ...) __attribute__((format(printf, 2, 3))) { return 0; }
  void println(const char*) {}
  void println() {}
};
extern HardwareSerial Serial;
struct EspClass { uint64_t getEfuseMac() { return 0; } };
extern EspClass ESP;
unsigned long millis();
void delay(unsigned long);
void configTime(long, int, const char*, const char* = nullptr, const char* = nullptr);
