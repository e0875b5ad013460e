"""Reporting: tables, figures and findings verdicts from run directories; it draws, never trains.

May import: everything below. Only the CLI imports it.
"""
