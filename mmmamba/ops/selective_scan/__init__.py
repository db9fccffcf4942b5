"""Selective scan returning every state (A2SSM)."""
from .reference import selective_scan_states_reference

__all__ = ['selective_scan_states_reference']
