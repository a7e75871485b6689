/* Host-only stand-in used by tests/test_firmware.py to syntax-check the sketch with g++.
 * Declares just what fleetscan_node.ino uses; not the real library. */
#pragma once
#include <Arduino.h>
#include <WiFiClientSecure.h>
enum followRedirects_t { HTTPC_DISABLE_FOLLOW_REDIRECTS = 0 };
struct HTTPClient {
  bool begin(WiFiClientSecure&, const char*) { return true; }
  void setFollowRedirects(followRedirects_t) {} void setTimeout(uint16_t) {}
  void addHeader(const char*, const char*) {} int POST(uint8_t*, size_t) { return 200; }
  void end() {}
};
