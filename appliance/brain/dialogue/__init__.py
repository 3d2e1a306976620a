"""The dialogue policy: the Brain (one per appliance, every channel), the policy that decides the next
step, the existing-booking flows and question answers. Extraction in, tool calls and reply parts out."""
