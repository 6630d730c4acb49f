// A client of the OpenAI-compatible chat-completions API that vLLM, llama-server, Ollama,
// LM Studio and `vqa serve` speak: the conversation goes to POST {base}/v1/chat/completions
// with its images as base64 `data:` URLs, and the answer streams back as server-sent events
// (`data: {...}` chunks with choices[0].delta.content, then `data: [DONE]`). libcurl does the
// HTTP (TLS, proxies from the environment, timeouts); this file does the protocol. No LibTorch.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/Engine.h"
#include "engine/remote/Sse.h"
#include "engine/Types.h"

namespace vqa::remote {

// The server's endpoint for `path` ("/chat/completions", "/models"): base_url without a
// trailing slash or /v1, then /v1 and the path. Throws vqa::Error for a URL that is not
// http:// or https://.
std::string endpoint(const std::string& base_url, const std::string& path);

// The image in a `data:` URL, at most `max_bytes` long: a PNG (exact) when that fits, else a
// JPEG of quality 92 (a photo from a phone: a few megabytes), downscaled by halves only when
// even that does not fit. Servers bound their request bodies (vqa serve: 16 MiB).
inline constexpr std::size_t kMaxImageUrlBytes = 12u << 20;
std::string imageDataUrl(const RgbImage& image, std::size_t max_bytes = kMaxImageUrlBytes);

// The chat-completions request for `request` (its conversation, images in the order their
// parts appear, videos as a few of their frames with their times (RemoteVideo.h), generation
// parameters) on `model`; with `attention`, the extension that asks a VQA Studio server for
// each token's attention grids. `sent_frames` (may be null) gets the frames each video sent.
// Throws vqa::Error when the conversation names more images or videos than the request holds,
// or a video cannot be read.
nlohmann::json chatRequestBody(const Request& request, const std::string& model, bool stream,
                               bool attention = false, std::vector<VideoFrames>* sent_frames = nullptr);

// The model ids GET {base}/v1/models lists. Throws vqa::Error with a reason a person can act
// on (unreachable, refused key, not an OpenAI-compatible server, ...).
std::vector<std::string> listModels(const RemoteServer& server);
struct ListedModel {
    std::string id;
    std::string owned_by; // "vqa-studio" on a VQA Studio server
};
std::vector<ListedModel> listModelEntries(const RemoteServer& server);

// The server with its model settled: the one named (checked against the list) or, when none
// is named, the server's only one; sends_attention when the server is VQA Studio's. Throws
// vqa::Error naming what the server offers.
RemoteServer resolveModel(const RemoteServer& server);

// Streams the answer to the request's last user turn through on_token (index counts the
// chunks; id is -1: a server sends text, not our token ids; attention grids when the server
// sends them). `cancel` stops the transfer
// within about a second. Errors come back in the result (stop == Error) with the text so far.
GenerationResult streamChat(const RemoteServer& server, const Request& request, const TokenCallback& on_token,
                            const std::atomic<bool>* cancel);

}  // namespace vqa::remote
