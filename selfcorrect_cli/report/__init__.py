"""Reporting: tables, figures and findings verdicts from run directories; it draws, never trains.

Owns: the one Markdown/CSV table builder (tables), the paper's numbers (paper), every figure
(figures), the study's and the ad-hoc run tables (study_tables), the failure analyses' tables
and figures (analyses), the study report (study, paths) and the findings F1-F6 (findings,
findings_files). The statistics it prints are computed in measure/statistics.py.
May import: everything below. Only the CLI imports it.
"""
