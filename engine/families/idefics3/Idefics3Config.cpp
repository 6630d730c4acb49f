#include "engine/families/idefics3/Idefics3Config.h"

#include "engine/io/ModelConfig.h"
#include "models/base/Error.h"

using nlohmann::json;

namespace vqa {

using namespace config;

models::Idefics3Config parseIdefics3Config(const json& config, const std::string& path) {
    models::Idefics3Config c;
    // Idefics3VisionConfig's defaults.
    const models::VisionConfig vision_defaults{.hidden_size = 1152, .intermediate_size = 3072,
                                               .num_hidden_layers = 12, .num_attention_heads = 16,
                                               .num_channels = 3, .image_size = 224, .patch_size = 32,
                                               .layer_norm_eps = 1e-6, .hidden_act = "gelu_pytorch_tanh"};
    c.vision = parseVisionConfig(subObject(config, "vision_config", path), path, "vision_config",
                                 vision_defaults);

    const json& text = subObject(config, "text_config", path);
    c.text = parseLlamaConfig(text, path, "text_config");
    if (text.empty()) // Idefics3Config's default text config sets rms_norm_eps = 1e-5
        c.text.rms_norm_eps = 1e-5;
    // See the header: the top-level flag decides.
    c.text.tie_word_embeddings = boolField(config, "tie_word_embeddings", false, path, "");

    c.scale_factor = intField<int>(config, "scale_factor", 2, path, "");
    c.image_token_id = intField<std::int64_t>(config, "image_token_id", 128257, path, "", 0);
    if (c.image_token_id >= c.text.vocab_size)
        throw Error(path + ": image_token_id " + std::to_string(c.image_token_id) +
                    " is outside the vocabulary (text_config.vocab_size " +
                    std::to_string(c.text.vocab_size) + ")");
    const int patches = c.vision.image_size / c.vision.patch_size;
    if (patches % c.scale_factor != 0)
        throw Error(path + ": the vision grid (" + std::to_string(patches) + "x" +
                    std::to_string(patches) + " patches) is not divisible by scale_factor " +
                    std::to_string(c.scale_factor));
    return c;
}

} // namespace vqa
