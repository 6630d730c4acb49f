"""What the reference scripts share: the test images and the LLaVA-1.5 chat template."""
# llava-hf/llava-1.5-7b-hf's chat template (chat_template.json): role prefix, images first,
# then text.
LLAVA15_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}"
    "{% endif %}{# Render all images first #}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\n' }}{% endfor %}{# Render all text next #}{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] + ' '}}{% endfor %}"
    "{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{% generation %}"
    "{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)


def make_images(seed):
    """Two smooth-ish random images, non-square, larger than one tile after resizing."""
    import numpy as np  # here, so scripts that only need the template need neither package
    from PIL import Image

    rng = np.random.default_rng(seed)

    def img(h, w):
        base = rng.integers(0, 255, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
        im = Image.fromarray(base).resize((w, h), Image.BILINEAR)
        noise = rng.integers(-20, 20, (h, w, 3))
        return Image.fromarray(np.clip(np.asarray(im).astype(int) + noise, 0, 255).astype(np.uint8))
    return img(90, 150), img(140, 70)
