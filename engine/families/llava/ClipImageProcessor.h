// Image preprocessing of the LLaVA family, as transformers' CLIPImageProcessor and
// LlavaImageProcessor (PIL backend) and LlavaProcessor do it:
//   1. with do_pad (LLaVA-1.5's "pad" aspect ratio), pad to a square with the mean colour
//      (int(mean * 255) per channel), the image centred;
//   2. resize so the shortest edge is size.shortest_edge (the other edge int(s * long /
//      short)), or to size.height x size.width, Pillow-exact (engine/vision/PilResize.h);
//   3. center crop to crop_size (zero padding where the crop is larger than the image);
//   4. rescale and normalize with numpy's float32 steps, CHW float32.
// The pixel values equal the reference's bit for bit on the same RGB input.
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

#include "engine/Types.h"
#include "engine/explain/ImageLayout.h"
#include "engine/vision/PilResize.h"
#include "engine/vision/PixelNormalization.h"

namespace vqa {

// preprocessor_config.json / processor_config.json of a LLaVA or CLIP checkpoint. Absent keys
// take the defaults of transformers' LlavaImageProcessor and LlavaProcessor.
struct ClipProcessorConfig {
    bool do_pad = false;
    bool do_resize = true;
    int shortest_edge = 224;       // size.shortest_edge (0 when size gives height and width)
    int resize_height = 0, resize_width = 0;  // size.height / size.width
    PilFilter resample = PilFilter::Bicubic;
    bool do_center_crop = true;
    int crop_height = 224, crop_width = 224;
    PixelNormalization normalization{.image_mean = {0.48145466, 0.4578275, 0.40821073},   // OPENAI_CLIP_MEAN
                                     .image_std = {0.26862954, 0.26130258, 0.27577711}};  // OPENAI_CLIP_STD
    // LlavaProcessor: tokens per image = (H / patch_size) * (W / patch_size)
    // + num_additional_image_tokens, minus one under the "default" strategy. patch_size 0:
    // not given (older checkpoints); the model's numbers decide then.
    int patch_size = 0;
    int num_additional_image_tokens = 0;
    std::string vision_feature_select_strategy;  // "" when not given
    std::string image_token = "<image>";

    // Reads <model_dir>/processor_config.json's "image_processor" (transformers 5) or
    // preprocessor_config.json, and processor_config.json's processor keys. Throws vqa::Error.
    static ClipProcessorConfig load(const std::string& model_dir);
    // The same files of a CLIP dual encoder (CLIPImageProcessor), and of a SigLIP one
    // (SiglipImageProcessor, whose defaults differ: 224 x 224 without a crop, mean and std 0.5).
    static ClipProcessorConfig loadClip(const std::string& model_dir);
    static ClipProcessorConfig loadSiglip(const std::string& model_dir);

  private:
    static ClipProcessorConfig read(ClipProcessorConfig defaults, const std::string& model_dir,
                                    const std::vector<std::string>& types, const std::string& model);
};

struct ClipProcessedImage {
    torch::Tensor pixel_values;  // [1, 3, H, W] float32
    // Where the frame lies in the original image's pixels (may reach outside it: padding).
    double frame_x = 0, frame_y = 0, frame_width = 0, frame_height = 0;
};

class ClipImageProcessor {
public:
    explicit ClipImageProcessor(ClipProcessorConfig config);
    const ClipProcessorConfig& config() const { return config_; }

    // Throws vqa::Error for an empty image.
    ClipProcessedImage process(const RgbImage& image) const;

    // The resize step's output size (width, height) for an input of this size.
    std::pair<int, int> resizedSize(int width, int height) const;

private:
    ClipProcessorConfig config_;
};

}  // namespace vqa
