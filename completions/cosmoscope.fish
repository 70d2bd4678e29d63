complete --keep-order --exclusive --command cosmoscope --arguments "(COSMOSCOPE_COMPLETE=fish cosmoscope -- (commandline --current-process --tokenize --cut-at-cursor) (commandline --current-token))"
