/* Host-only stand-in used by tests/test_firmware.py to syntax-check the sketch with g++.
 * Declares just what fleetscan_node.ino uses; not the real library. */
#pragma once
struct WiFiClientSecure { void setCACert(const char*) {} };
