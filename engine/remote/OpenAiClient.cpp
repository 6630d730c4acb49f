#include "engine/remote/OpenAiClient.h"
#include "engine/remote/RemoteVideo.h"
#include "engine/vision/VideoFile.h"

#include <algorithm>
#include <chrono>
#include <cctype>
#include <list>
#include <mutex>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "engine/net/Base64.h"
#include "engine/net/Curl.h"
#include "engine/serve/ChatProtocol.h"
#include "models/base/Error.h"

namespace vqa::remote {

using Clock = std::chrono::steady_clock;

// ---- requests ----

std::string endpoint(const std::string& base_url, const std::string& path) {
    std::string base = base_url;
    while (!base.empty() && std::isspace(static_cast<unsigned char>(base.back())))
        base.pop_back();
    while (!base.empty() && base.back() == '/')
        base.pop_back();
    auto lower = base;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    if (lower.rfind("http://", 0) != 0 && lower.rfind("https://", 0) != 0)
        throw Error("'" + base_url + "' is not a server address: give it as http://host:port or https://host");
    if (lower.size() >= 3 && lower.compare(lower.size() - 3, 3, "/v1") == 0)
        base.erase(base.size() - 3);
    return base + "/v1" + path;
}

namespace {

const char* roleName(Role role) {
    switch (role) {
    case Role::System: return "system";
    case Role::User: return "user";
    case Role::Assistant: return "assistant";
    }
    return "user";
}

} // namespace

std::string imageDataUrl(const RgbImage& image, std::size_t max_bytes) {
    if (image.empty() || image.pixels.size() != static_cast<std::size_t>(image.width) * image.height * 3)
        throw Error("an empty or malformed image cannot be sent");
    cv::Mat rgb(image.height, image.width, CV_8UC3, const_cast<std::uint8_t*>(image.pixels.data()));
    cv::Mat bgr;
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
    auto url = [](const char* type, const std::vector<unsigned char>& bytes) {
        return std::string("data:") + type + ";base64," + net::base64Encode(bytes.data(), bytes.size());
    };
    auto fits = [max_bytes](const std::vector<unsigned char>& bytes) {
        return (bytes.size() + 2) / 3 * 4 + 32 <= max_bytes;  // base64 and the prefix
    };
    std::vector<unsigned char> bytes;
    if (!cv::imencode(".png", bgr, bytes))
        throw Error("the image could not be encoded as PNG to send it");
    if (fits(bytes))
        return url("image/png", bytes);
    for (;;) {
        if (!cv::imencode(".jpg", bgr, bytes, {cv::IMWRITE_JPEG_QUALITY, 92}))
            throw Error("the image could not be encoded as JPEG to send it");
        if (fits(bytes))
            return url("image/jpeg", bytes);
        if (bgr.cols < 64 || bgr.rows < 64)
            throw Error("the image does not fit in a request to the server, even made small");
        cv::resize(bgr, bgr, cv::Size(bgr.cols / 2, bgr.rows / 2), 0, 0, cv::INTER_AREA);
    }
}

namespace {

// Every turn of a conversation sends its images again: the same image is encoded once. Keyed
// by the request's image key (a content hash in the window, the file in the CLI), the few most
// recent kept.
std::string cachedDataUrl(const RgbImage& image, const std::string& key) {
    if (key.empty())
        return imageDataUrl(image);
    static std::mutex mutex;
    static std::list<std::pair<std::string, std::string>> recent;  // key and URL, newest first
    const std::string full_key = key + "#" + std::to_string(image.width) + "x" + std::to_string(image.height);
    {
        std::lock_guard lock(mutex);
        for (auto it = recent.begin(); it != recent.end(); ++it)
            if (it->first == full_key) {
                recent.splice(recent.begin(), recent, it);
                return it->second;
            }
    }
    std::string url = imageDataUrl(image);
    std::lock_guard lock(mutex);
    recent.emplace_front(full_key, url);
    if (recent.size() > 4)
        recent.pop_back();
    return url;
}

} // namespace

nlohmann::json chatRequestBody(const Request& request, const std::string& model, bool stream, bool attention,
                               std::vector<VideoFrames>* sent_frames) {
    nlohmann::json messages = nlohmann::json::array();
    std::size_t image = 0, video = 0;
    for (const Turn& turn : request.conversation) {
        const bool has_image = std::any_of(turn.content.begin(), turn.content.end(), [](const ContentPart& p) {
            return p.kind == ContentPart::Kind::Image || p.kind == ContentPart::Kind::Video;
        });
        nlohmann::json content;
        if (!has_image) { // plain text: the form every server takes, for every role
            std::string text;
            for (const auto& part : turn.content)
                text += part.text;
            content = text;
        } else {
            content = nlohmann::json::array();
            for (const auto& part : turn.content) {
                if (part.kind == ContentPart::Kind::Text) {
                    if (!part.text.empty())
                        content.push_back({{"type", "text"}, {"text", part.text}});
                    continue;
                }
                if (part.kind == ContentPart::Kind::Video) {
                    // A few of its frames, each after its time (RemoteVideo.h).
                    if (video >= request.videos.size())
                        throw Error("the conversation shows " + std::to_string(video + 1) + " videos but the request has " +
                                    std::to_string(request.videos.size()));
                    const ServerVideo sent = serverVideo(request.videos[video]);
                    for (std::size_t f = 0; f < sent.urls.size(); ++f) {
                        content.push_back({{"type", "text"}, {"text", videoFrameLabel(sent.frames.times_s[f])}});
                        content.push_back({{"type", "image_url"}, {"image_url", {{"url", sent.urls[f]}}}});
                    }
                    if (sent_frames) {
                        sent_frames->push_back(sent.frames);
                        sent_frames->back().video = static_cast<int>(video);
                    }
                    ++video;
                    continue;
                }
                if (image >= request.images.size() || !request.images[image])
                    throw Error("the conversation shows " + std::to_string(image + 1) + " images but the request has " +
                                std::to_string(request.images.size()));
                const std::string& key = image < request.image_keys.size() ? request.image_keys[image] : std::string();
                content.push_back({{"type", "image_url"}, {"image_url", {{"url", cachedDataUrl(*request.images[image], key)}}}});
                ++image;
            }
        }
        messages.push_back({{"role", roleName(turn.role)}, {"content", content}});
    }
    const GenerationParams& g = request.generation;
    nlohmann::json body = {{"model", model},
                           {"messages", messages},
                           {"stream", stream},
                           {"max_tokens", g.max_new_tokens},
                           {"temperature", g.temperature}};
    // Beyond OpenAI's own fields, only what was asked for: vLLM, llama-server and Ollama read
    // these, and a strict server is not sent what it may refuse.
    if (g.top_p < 1.0f)
        body["top_p"] = g.top_p;
    if (g.top_k > 0)
        body["top_k"] = g.top_k;
    if (g.repetition_penalty != 1.0f)
        body["repetition_penalty"] = g.repetition_penalty;
    if (g.temperature > 0 && g.seed != 0)
        body["seed"] = g.seed;
    if (g.ignore_eos)
        body["ignore_eos"] = true;
    if (attention)
        body["vqa"] = {{"attention", true}};
    return body;
}

// ---- transfers ----

namespace {

struct Response {
    long status = 0;
    std::string body;          // the whole body (non-streamed requests, and error answers)
    std::string retry_after;   // the Retry-After header, if any
    std::string content_type;
};

std::string trimmed(std::string s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
        s.pop_back();
    std::size_t i = 0;
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i])))
        ++i;
    return s.substr(i);
}

std::size_t onHeader(char* data, std::size_t size, std::size_t n, void* user) {
    auto* r = static_cast<Response*>(user);
    const std::string line(data, size * n);
    const auto colon = line.find(':');
    if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
        if (name == "retry-after")
            r->retry_after = trimmed(line.substr(colon + 1));
        else if (name == "content-type")
            r->content_type = trimmed(line.substr(colon + 1));
    }
    return size * n;
}

// The server's own words in an error body: OpenAI's {"error": {"message": ...}}, a plain
// {"error": "..."}, FastAPI's {"detail": ...}, or the start of the text.
std::string serverSays(const std::string& body) {
    try {
        const auto j = nlohmann::json::parse(body);
        if (j.is_object()) {
            if (j.contains("error")) {
                const auto& e = j["error"];
                if (e.is_string())
                    return e.get<std::string>();
                if (e.is_object() && e.contains("message") && e["message"].is_string())
                    return e["message"].get<std::string>();
            }
            if (j.contains("detail"))
                return j["detail"].is_string() ? j["detail"].get<std::string>() : j["detail"].dump();
            if (j.contains("message") && j["message"].is_string())
                return j["message"].get<std::string>();
        }
    } catch (const nlohmann::json::exception&) {
    }
    std::string text = trimmed(body);
    if (text.size() > 200)
        text = text.substr(0, 200) + "...";
    return text;
}

std::string httpProblem(const std::string& url, const Response& r) {
    std::string what;
    switch (r.status) {
    case 401:
    case 403:
        what = "refused the API key (HTTP " + std::to_string(r.status) +
               "): check the key, or give one if the server needs it";
        break;
    case 404: what = "has no such endpoint or model (HTTP 404): check the address and the model name"; break;
    case 413: what = "found the request too large (HTTP 413): try a smaller image or a shorter conversation"; break;
    case 429: {
        const bool seconds = !r.retry_after.empty() &&
                             std::all_of(r.retry_after.begin(), r.retry_after.end(),
                                         [](unsigned char c) { return std::isdigit(c) != 0; });
        what = "is busy (HTTP 429)";
        what += r.retry_after.empty() ? ": try again in a moment"
                                      : ": it asks to try again after " + r.retry_after + (seconds ? " seconds" : "");
        break;
    }
    case 503: what = "is overloaded or starting (HTTP 503): try again in a moment"; break;
    default:
        what = r.status >= 500 ? "had a problem (HTTP " + std::to_string(r.status) + ")"
                               : "answered HTTP " + std::to_string(r.status);
    }
    std::string message = "the server at " + url + " " + what;
    if (const std::string says = serverSays(r.body); !says.empty())
        message += " — it says: " + says;
    return message;
}

std::string transferProblem(const std::string& url, CURLcode code, const char* errbuf, double stall_s) {
    if (net::isUnreachable(code))
        return "cannot reach the server at " + url + " (" + net::curlMessage(code, errbuf) +
               "): check the address, that the server runs, and the proxy settings";
    if (code == CURLE_OPERATION_TIMEDOUT)
        return "the server at " + url + " sent nothing for " + std::to_string(static_cast<int>(stall_s)) +
               " seconds; gave up (" + net::curlMessage(code, errbuf) + ")";
    if (code == CURLE_PEER_FAILED_VERIFICATION || code == CURLE_SSL_CONNECT_ERROR)
        return "no secure connection to " + url + " (" + net::curlMessage(code, errbuf) + ")";
    return "the connection to " + url + " failed (" + net::curlMessage(code, errbuf) + ")";
}

// One request's handle: the common options, the bearer token, and JSON in and out.
struct Transfer {
    net::CurlPtr curl = net::newCurlHandle();
    net::SlistPtr headers;
    char errbuf[CURL_ERROR_SIZE] = {};
    Response response;

    Transfer(const RemoteServer& server, const std::string& url, const std::string* body) {
        CURL* c = curl.get();
        curl_easy_setopt(c, CURLOPT_URL, url.c_str());
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(server.connect_timeout_s * 1000));
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, std::max(1L, static_cast<long>(server.stall_timeout_s)));
        curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(c, CURLOPT_USERAGENT, "vqa-studio (libcurl)");
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, onHeader);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, &response);
        curl_slist* list = curl_slist_append(nullptr, "Accept: application/json, text/event-stream");
        if (!server.api_key.empty())
            list = curl_slist_append(list, ("Authorization: Bearer " + server.api_key).c_str());
        if (body) {
            list = curl_slist_append(list, "Content-Type: application/json");
            // No "Expect: 100-continue" (which libcurl adds to bodies over 1 KB): a server
            // that does not answer it would cost every request a second.
            list = curl_slist_append(list, "Expect:");
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, body->c_str());
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
        }
        headers.reset(list);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
    }

    long status() {
        if (response.status == 0)
            curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &response.status);
        return response.status;
    }
};

} // namespace

std::vector<ListedModel> listModelEntries(const RemoteServer& server) {
    const std::string url = endpoint(server.base_url, "/models");
    Transfer t(server, url, nullptr);
    curl_easy_setopt(t.curl.get(), CURLOPT_WRITEFUNCTION, net::appendToString);
    curl_easy_setopt(t.curl.get(), CURLOPT_WRITEDATA, &t.response.body);
    curl_easy_setopt(t.curl.get(), CURLOPT_TIMEOUT_MS, static_cast<long>((server.connect_timeout_s + 30) * 1000));
    const CURLcode code = curl_easy_perform(t.curl.get());
    if (code != CURLE_OK)
        throw Error(transferProblem(url, code, t.errbuf, server.stall_timeout_s));
    if (t.status() >= 400)
        throw Error(httpProblem(url, t.response));
    std::vector<ListedModel> models;
    try {
        const auto j = nlohmann::json::parse(t.response.body);
        for (const auto& m : j.at("data"))
            models.push_back({m.at("id").get<std::string>(),
                              m.contains("owned_by") && m["owned_by"].is_string() ? m["owned_by"].get<std::string>() : ""});
    } catch (const nlohmann::json::exception&) {
        throw Error("the server at " + url + " did not answer with a list of models; is it an OpenAI-compatible "
                    "server (vLLM, llama-server, Ollama, LM Studio, vqa serve)?");
    }
    return models;
}

std::vector<std::string> listModels(const RemoteServer& server) {
    std::vector<std::string> ids;
    for (const auto& m : listModelEntries(server))
        ids.push_back(m.id);
    return ids;
}

RemoteServer resolveModel(const RemoteServer& server) {
    const auto entries = listModelEntries(server);
    std::vector<std::string> ids;
    for (const auto& m : entries)
        ids.push_back(m.id);
    auto offered = [&] {
        std::string list;
        for (const auto& id : ids)
            list += (list.empty() ? "" : ", ") + id;
        return list.empty() ? std::string("none") : list;
    };
    RemoteServer out = server;
    if (server.model.empty()) {
        if (ids.size() != 1)
            throw Error("the server offers " + std::to_string(ids.size()) + " models; name one (" + offered() + ")");
        out.model = ids.front();
    } else if (std::find(ids.begin(), ids.end(), server.model) == ids.end()) {
        throw Error("the server has no model '" + server.model + "'; it offers: " + offered());
    }
    out.sends_attention = std::any_of(entries.begin(), entries.end(), [&](const ListedModel& m) {
        return m.id == out.model && m.owned_by == "vqa-studio";
    });
    return out;
}

namespace {

// The streaming request's state, shared with libcurl's callbacks.
struct Stream {
    Transfer* transfer = nullptr;
    const TokenCallback* on_token = nullptr;
    const std::atomic<bool>* cancel = nullptr;
    SseParser parser;
    GenerationResult result;
    bool streaming = false;   // the answer is an event stream (else its whole body is kept)
    bool done = false;        // [DONE] or a finish_reason came
    bool finished = false;
    std::string problem;      // a malformed event or an error event: the transfer stops
    Clock::time_point start = Clock::now();

    void onEvent(const std::string& data) {
        if (done || !problem.empty())
            return;
        if (trimmed(data) == "[DONE]") {
            done = true;
            return;
        }
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(data);
        } catch (const nlohmann::json::exception&) {
            problem = "the server sent a malformed event: " + data.substr(0, 200);
            return;
        }
        if (j.is_object() && j.contains("error")) {
            problem = "the server stopped with an error — it says: " + serverSays(data);
            return;
        }
        if (!j.is_object() || !j.contains("choices") || !j["choices"].is_array()) {
            problem = "the server sent an event that is not a chat-completion chunk: " + data.substr(0, 200);
            return;
        }
        if (j["choices"].empty()) // a usage-only chunk
            return;
        const auto& choice = j["choices"][0];
        std::vector<HeatmapGrid> attention;
        if (j.contains("vqa") && j["vqa"].is_object() && j["vqa"].contains("attention")) {
            try {
                attention = serve::gridsFromJson(j["vqa"]["attention"]);
            } catch (const Error& e) {
                problem = std::string("the server sent malformed attention: ") + e.what();
                return;
            }
        }
        if (choice.contains("delta") && choice["delta"].is_object()) {
            const auto& delta = choice["delta"];
            if (delta.contains("content") && delta["content"].is_string())
                emit(delta["content"].get<std::string>(), std::move(attention));
        }
        finish(choice);
    }

    void emit(const std::string& text, std::vector<HeatmapGrid> attention = {}) {
        if (text.empty())
            return;
        if (result.timings.new_tokens == 0)
            result.timings.first_token_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
        TokenEvent event;
        event.index = result.timings.new_tokens++;
        event.id = -1;
        event.text = text;
        event.attention = std::move(attention);
        result.text += text;
        if (*on_token)
            (*on_token)(event);
    }

    void finish(const nlohmann::json& choice) {
        if (!choice.contains("finish_reason") || !choice["finish_reason"].is_string())
            return;
        const auto reason = choice["finish_reason"].get<std::string>();
        result.stop = reason == "length" ? StopReason::MaxTokens : StopReason::EndOfTurn;
        finished = true;
    }
};

std::size_t onBody(char* data, std::size_t size, std::size_t n, void* user) {
    auto* s = static_cast<Stream*>(user);
    const std::size_t bytes = size * n;
    if (s->transfer->status() < 400) {
        if (!s->streaming && s->transfer->response.body.empty())
            s->streaming = s->transfer->response.content_type.find("text/event-stream") != std::string::npos;
        if (s->streaming) {
            // Nothing may leave a libcurl callback as an exception.
            try {
                s->parser.feed(data, bytes, [s](const std::string& event) { s->onEvent(event); });
            } catch (const std::exception& e) {
                s->problem = std::string("the server sent an event that could not be read: ") + e.what();
            }
            if (s->parser.buffered() > (16u << 20))
                s->problem = "the server sent an event of more than 16 MB; gave up";
            return s->problem.empty() ? bytes : 0; // 0 stops the transfer
        }
    }
    if (s->transfer->response.body.size() + bytes > (64u << 20))
        return 0; // a runaway answer
    s->transfer->response.body.append(data, bytes);
    return bytes;
}

int onProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    auto* s = static_cast<Stream*>(user);
    return s->cancel && s->cancel->load() ? 1 : 0;
}

} // namespace

GenerationResult streamChat(const RemoteServer& server, const Request& request, const TokenCallback& on_token,
                            const std::atomic<bool>* cancel) {
    Stream s;
    s.on_token = &on_token;
    s.cancel = cancel;
    auto failed = [&](const std::string& message) {
        s.result.stop = StopReason::Error;
        s.result.error = message;
        return s.result;
    };
    std::string url, body;
    std::vector<VideoFrames> video_frames;
    try {
        url = endpoint(server.base_url, "/chat/completions");
        body = chatRequestBody(request, server.model, true,
                               server.sends_attention && request.explain.capture_attention, &video_frames)
                   .dump();
    } catch (const Error& e) {
        return failed(e.what());
    }
    s.result.video_frames = std::move(video_frames);
    Transfer t(server, url, &body);
    s.transfer = &t;
    CURL* c = t.curl.get();
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, onBody);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, onProgress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &s);
    const CURLcode code = curl_easy_perform(c);
    s.result.timings.decode_ms =
        std::chrono::duration<double, std::milli>(Clock::now() - s.start).count() - s.result.timings.first_token_ms;

    if (code == CURLE_ABORTED_BY_CALLBACK && cancel && cancel->load()) {
        s.result.stop = StopReason::Cancelled;
        return s.result;
    }
    if (!s.problem.empty())
        return failed(s.problem);
    if (t.status() >= 400)
        return failed(httpProblem(url, t.response));
    if (code != CURLE_OK) {
        if (code == CURLE_WRITE_ERROR)
            return failed("the answer from " + url + " grew past 64 MB; gave up");
        const bool broke_off = s.streaming && (code == CURLE_PARTIAL_FILE || code == CURLE_RECV_ERROR);
        std::string message = broke_off ? "the answer from " + url + " broke off mid-way (" +
                                              net::curlMessage(code, t.errbuf) + ")"
                                        : transferProblem(url, code, t.errbuf, server.stall_timeout_s);
        if (!s.result.text.empty())
            message += "; the answer so far is kept";
        return failed(message);
    }
    if (!s.streaming && trimmed(t.response.body).rfind("data:", 0) == 0) {
        // Events under another content type.
        s.streaming = true;
        s.parser.feed(t.response.body.data(), t.response.body.size(), [&s](const std::string& e) { s.onEvent(e); });
        s.parser.feed("\n\n", 2, [&s](const std::string& e) { s.onEvent(e); });
        if (!s.problem.empty())
            return failed(s.problem);
    }
    if (!s.streaming) {
        // A server that answered the whole completion at once (it ignored "stream").
        try {
            const auto j = nlohmann::json::parse(t.response.body);
            const auto& choice = j.at("choices").at(0);
            s.emit(choice.at("message").at("content").get<std::string>());
            s.finish(choice);
            return s.result;
        } catch (const nlohmann::json::exception&) {
            return failed("the server at " + url + " did not answer with a chat completion: " +
                          serverSays(t.response.body));
        }
    }
    if (!s.done && !s.finished)
        return failed("the answer from " + url + " broke off before it ended (no [DONE] and no finish_reason)" +
                      std::string(s.result.text.empty() ? "" : "; the answer so far is kept"));
    return s.result;
}

}  // namespace vqa::remote
