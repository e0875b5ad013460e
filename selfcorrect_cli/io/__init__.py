"""Files that stages hand each other: run directories, traces, checkpoints, spec and JSON files.

Owns: atomic writes and run records (run_dir), one-line-error readers (read), the trace JSONL
record (traces), SCoRe's resumable checkpoints (checkpoints), the run.report_to trackers that
mirror the JSONL logs (trackers), the sample conversations a person reads (samples).
May import: config, errors. Nothing above.
"""
