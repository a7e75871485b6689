/* Host-only stand-in used by tests/test_firmware.py to syntax-check the sketch with g++.
 * Declares just what fleetscan_node.ino uses; not the real library. */
#pragma once
#include <Arduino.h>
struct TwoWire { bool begin(int sda = -1, int scl = -1, uint32_t f = 0) { (void)sda; (void)scl; (void)f; return true; }
  void beginTransmission(uint8_t) {} uint8_t endTransmission() { return 0; } };
extern TwoWire Wire;
