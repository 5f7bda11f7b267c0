"""The Gradio app over biglearn (app.py is its Space entry point). Nothing in `biglearn/` imports this package.

- `settings`: paths, limits and texts;   `layout`: the page, its tabs and their wiring;
- `handlers`: one method per UI event, each one call of the inference API;
- `images`: untrusted uploads to model inputs;   `inputs`: typed and clicked values, checked;
- `pictures`: the grid, tiles and figures the app shows;   `transplant`: the paper's §4.2 presets;
- `model_slot`: the shared model and its model card;   `widgets`: the patch painter and the drawing pad
  (`gr.HTML` canvases; their JavaScript and CSS are the .js/.css files beside it).
"""
