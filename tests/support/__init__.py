"""Test support: the one server launcher, the one client factory, the emulator fixtures."""
