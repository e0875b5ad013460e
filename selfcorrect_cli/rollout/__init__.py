"""Rollouts: load a model, render chats, and sample batched multi-turn trajectories.

Owns: model and tokenizer loading (models, smollm2 alias), chat rendering and training masks
(chat), the one sampling loop with its backends (generation), the lean KV-cache decoder
(static_decoder), the cache one attempt hands the next (turn_cache) and the on-device,
CUDA-graph decode loop (device_loop), each process's
device and share of the work under `accelerate launch` (processes).
May import: config, errors, io, and tasks' Problem/Task interface and prompts, never a
concrete task.
"""
