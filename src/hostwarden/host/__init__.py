"""Host monitoring: psutil readings as plain values, and thresholds with hysteresis."""
