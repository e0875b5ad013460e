"""The paper's two failure analyses: behaviour collapse (Figure 3) and distribution mismatch
(Figure 4, which trains Pair-SFT with probes, so it sits above methods).

May import: everything below (methods, measure, rollout, tasks, io). Never report.
"""
