/* Host-only stand-in used by tests/test_firmware.py to syntax-check the sketch with g++.
 * Declares just what fleetscan_node.ino uses; not the real library. */
#pragma once
#include <Wire.h>
struct Adafruit_BME280 { bool begin(uint8_t addr = 0x77, TwoWire* w = &Wire) { (void)addr; (void)w; return false; }
  float readTemperature() { return 0; } float readHumidity() { return 0; } float readPressure() { return 0; } };
