/*
 * PlatformIO entry point. The firmware lives in ../fleetscan_node/fleetscan_node.ino
 * so that the Arduino IDE sketch and the PlatformIO build are the same code.
 *
 * The library headers are included here as well so PlatformIO's library
 * dependency finder sees them from src/ (the .ino sits outside src_dir).
 */
#include <Arduino.h>
#include <WiFi.h>
#include <Wire.h>

#include <Adafruit_BME280.h>
#include <Adafruit_Sensor.h>
#include <fleetnode.h>
#include <plexus.h>

#include "../fleetscan_node/fleetscan_node.ino"
