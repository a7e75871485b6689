/* Host-only stand-in used by tests/test_firmware.py to syntax-check the sketch with g++.
 * Declares just what fleetscan_node.ino uses; not the real library. */
#pragma once
#include <Arduino.h>
enum { WL_CONNECTED = 3 }; enum wifi_mode_t { WIFI_STA = 1 };
struct IPAddress { String toString() const { return String(); } };
struct WiFiClass {
  int status() { return 0; } bool disconnect() { return true; }
  int begin(const char*, const char*) { return 0; } bool mode(wifi_mode_t) { return true; }
  bool setAutoReconnect(bool) { return true; } int8_t RSSI() { return 0; } IPAddress localIP() { return IPAddress(); }
};
extern WiFiClass WiFi;
