#include "engine/library/FolderCaptioner.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>

#include "engine/Engine.h"
#include "engine/generation/AnswerText.h"
#include "engine/hub/Checksum.h"
#include "engine/library/LibraryDb.h"
#include "engine/vision/ImageIO.h"
#include "models/base/Error.h"

namespace vqa::library {
namespace fs = std::filesystem;

namespace {

double secondsSince(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

} // namespace

const char* itemStatusName(ItemStatus status) {
    switch (status) {
    case ItemStatus::Captioned: return "captioned";
    case ItemStatus::Kept: return "kept";
    case ItemStatus::Reused: return "reused";
    case ItemStatus::Skipped: return "skipped";
    case ItemStatus::Stopped: return "stopped";
    }
    return "unknown";
}

std::string CaptionJob::promptKey() const {
    std::string key = prompt;
    if (!generation.answer_start.empty())
        key += "\n[caption starts with] " + generation.answer_start;
    if (!generation.banned_words.empty()) {
        key += "\n[avoiding]";
        for (const auto& w : generation.banned_words)
            key += " " + w;
    }
    return key;
}

std::string modelKey(const ModelInfo& info) {
    if (info.remote)
        return info.name + " at " + info.path;
    std::string name = info.name;
    const std::string path = fs::path(info.path).generic_string();
    const auto snapshots = path.find("/snapshots/");
    const auto repo = path.rfind("/models--", snapshots);
    if (snapshots != std::string::npos && repo != std::string::npos) {
        name = path.substr(repo + 9, snapshots - repo - 9);  // Org--Name
        if (const auto dashes = name.find("--"); dashes != std::string::npos)
            name = name.substr(0, dashes) + '/' + name.substr(dashes + 2);
    }
    return name + " " + (info.quantization.empty() ? info.dtype : info.quantization);
}

std::string fillPrompt(const std::string& prompt, const std::string& image_path) {
    const fs::path p(image_path);
    const std::string values[][2] = {{"name", p.stem().string()},
                                     {"file", p.filename().string()},
                                     {"folder", p.parent_path().filename().string()},
                                     {"path", p.string()}};
    std::string out;
    for (std::size_t i = 0; i < prompt.size(); ++i) {
        if (prompt.compare(i, 2, "{{") == 0 || prompt.compare(i, 2, "}}") == 0) {
            out += prompt[i];
            ++i;
            continue;
        }
        bool replaced = false;
        if (prompt[i] == '{') {
            for (const auto& v : values) {
                const std::string key = "{" + v[0] + "}";
                if (prompt.compare(i, key.size(), key) == 0) {
                    out += v[1];
                    i += key.size() - 1;
                    replaced = true;
                    break;
                }
            }
        }
        if (!replaced)
            out += prompt[i];
    }
    return out;
}

FolderCaptioner::FolderCaptioner(Engine& engine, LibraryDb& db, CaptionJob job)
    : engine_(engine), db_(db), job_(std::move(job)), start_(std::chrono::steady_clock::now()),
      reasons_first_(engine.modelInfo().reasons_first) {}

bool FolderCaptioner::done() const {
    return ready_.empty() && (next_ >= static_cast<int>(job_.images.size()) || summary_.cancelled ||
                              !summary_.stopped_because.empty());
}

CaptionProgress FolderCaptioner::progress(const std::string& current) const {
    CaptionProgress p;
    p.done = finished_;
    p.total = static_cast<int>(job_.images.size());
    p.elapsed_s = secondsSince(start_);
    p.current = current;
    if (summary_.captioned > 0)
        p.eta_s = captioning_s_ / summary_.captioned * (p.total - p.done);
    return p;
}

CaptionSummary FolderCaptioner::summary() const {
    CaptionSummary s = summary_;
    s.seconds = secondsSince(start_);
    return s;
}

std::optional<FolderCaptioner::Pending> FolderCaptioner::prepare(CaptionItem& item) {
    const std::string name = fs::path(item.path).filename().string();
    try {
        // An unchanged file the library knows: its caption, without reading the file.
        const FileStamp stamp = fileStamp(item.path);
        const std::int64_t size = stamp.size;
        const std::int64_t mtime = stamp.mtime_ns;
        std::optional<ImageRecord> known = db_.image(item.path);
        std::optional<CaptionRecord> kept;
        if (known && known->size == size && known->mtime_ns == mtime && !job_.redo)
            kept = db_.caption(known->id, job_.model, job_.promptKey());
        if (kept) {
            item.status = ItemStatus::Kept;
            item.text = kept->text;
            return std::nullopt;
        }
        const std::string bytes = readFileBytes(item.path, job_.max_file_bytes);
        ImageRecord record;
        record.path = item.path;
        record.size = size;
        record.mtime_ns = mtime;
        record.sha256 = hub::sha256Bytes(bytes.data(), bytes.size());
        const auto* data = reinterpret_cast<const std::uint8_t*>(bytes.data());
        if (auto header = readImageHeader(data, bytes.size())) {
            record.width = header->width;
            record.height = header->height;
        }
        std::optional<CaptionRecord> same =
            job_.redo ? std::nullopt : db_.captionByContent(record.sha256, job_.model, job_.promptKey());
        if (same) {
            record = db_.upsertImage(record);
            if (same->image_id != record.id)
                db_.putCaption(record.id, job_.model, job_.promptKey(), same->text);
            item.status = same->image_id == record.id ? ItemStatus::Kept : ItemStatus::Reused;
            item.text = same->text;
            if (item.status == ItemStatus::Reused)
                item.message = "same content as " + same->image_path;
            return std::nullopt;
        }
        ImageDecodeOptions decode;
        decode.max_pixels = job_.max_pixels;
        std::shared_ptr<const RgbImage> image;
        try {
            image = std::make_shared<const RgbImage>(decodeImageBytes(data, bytes.size(), name, decode));
        } catch (const Error& e) {
            throw FileProblem(e.what());
        }
        record.width = image->width;
        record.height = image->height;
        Pending pending;
        pending.record = record;
        Request& request = pending.request;
        request.images = {image};
        request.image_keys = {"sha256:" + record.sha256};
        request.image_options = job_.image_options;
        request.generation = job_.generation;
        request.conversation.push_back({Role::User,
                                        {{ContentPart::Kind::Image, {}},
                                         {ContentPart::Kind::Text, fillPrompt(job_.prompt, item.path)}}});
        return pending;
    } catch (const FileProblem& e) {
        item.status = ItemStatus::Skipped;
        item.message = fileMessage(item.path, e.what());
        return std::nullopt;
    }
}

void FolderCaptioner::keep(CaptionItem& item, Pending& pending, const GenerationResult& result) {
    if (result.stop == StopReason::Cancelled) {
        item.status = ItemStatus::Stopped;
        summary_.cancelled = true;
    } else if (result.stop == StopReason::Error) {
        item.status = ItemStatus::Skipped;
        item.message = fs::path(item.path).filename().string() + ": " + result.error;
    } else {
        item.text = answerAfterReasoning(job_.generation.answer_start + result.text, reasons_first_);
        pending.record = db_.upsertImage(pending.record);
        db_.putCaption(pending.record.id, job_.model, job_.promptKey(), item.text);
        item.status = ItemStatus::Captioned;
    }
}

std::optional<CaptionItem> FolderCaptioner::next(const std::function<void(const CaptionProgress&)>& on_start,
                                                 const std::atomic<bool>* cancel) {
    if (ready_.empty() && !done()) {
        if (cancel && cancel->load())
            summary_.cancelled = true;
        else
            captionSome(on_start, cancel);
    }
    if (ready_.empty())
        return std::nullopt;
    CaptionItem item = std::move(ready_.front());
    ready_.pop_front();
    return item;
}

void FolderCaptioner::captionSome(const std::function<void(const CaptionProgress&)>& on_start,
                                  const std::atomic<bool>* cancel) {
    if (on_start)
        on_start(progress(job_.images[static_cast<std::size_t>(next_)]));
    // The images from next_ on, in order, until `batch_size` of them need the model: those the
    // library has, copies and broken files are settled on the way. A first image settled so
    // is a step of its own (the step is quick, and each image is announced as it starts).
    std::vector<CaptionItem> items;
    std::vector<Pending> pending;
    std::vector<std::size_t> pending_item;  // pending[k] is items[pending_item[k]]
    const std::size_t batch = static_cast<std::size_t>(std::max(job_.batch_size, 1));
    const std::size_t looked_at = batch * 4 + 16;  // so a step over many kept images stays short
    while (next_ < static_cast<int>(job_.images.size()) && pending.size() < batch && items.size() < looked_at) {
        if (!items.empty() && (pending.empty() || (cancel && cancel->load())))
            break;
        const auto item_start = std::chrono::steady_clock::now();
        CaptionItem item;
        item.index = next_;
        item.path = job_.images[static_cast<std::size_t>(next_)];
        ++next_;
        if (auto p = prepare(item)) {
            pending.push_back(std::move(*p));
            pending_item.push_back(items.size());
        }
        item.seconds = secondsSince(item_start);
        items.push_back(std::move(item));
    }
    // Their captions, together; each kept in the library as soon as it is made.
    if (!pending.empty()) {
        const auto model_start = std::chrono::steady_clock::now();
        std::vector<Request> requests;
        for (auto& p : pending)
            requests.push_back(std::move(p.request));
        auto kept = [&](std::size_t k, const GenerationResult& result) {
            keep(items[pending_item[k]], pending[k], result);
        };
        engine_.generateBatch(requests, kept, cancel);
        // The model's time shared among the images it captioned.
        const double each = secondsSince(model_start) / static_cast<double>(pending.size());
        for (std::size_t k : pending_item)
            items[k].seconds += each;
    }
    std::vector<bool> asked_model(items.size(), false);
    for (std::size_t k : pending_item)
        asked_model[k] = true;
    for (std::size_t i = 0; i < items.size(); ++i) {
        CaptionItem& item = items[i];
        switch (item.status) {
        case ItemStatus::Captioned:
            ++summary_.captioned;
            captioning_s_ += item.seconds;
            failures_in_a_row_ = 0;
            break;
        case ItemStatus::Kept: ++summary_.kept; break;
        case ItemStatus::Reused: ++summary_.reused; break;
        case ItemStatus::Skipped:
            ++summary_.skipped;
            if (asked_model[i])  // a failure in the model, not in the file
                ++failures_in_a_row_;
            break;
        case ItemStatus::Stopped: break;  // not done: a later run takes it again
        }
        if (item.status != ItemStatus::Stopped)
            ++finished_;
        if (job_.max_engine_failures_in_a_row > 0 && failures_in_a_row_ >= job_.max_engine_failures_in_a_row &&
            summary_.stopped_because.empty())
            summary_.stopped_because = "the last " + std::to_string(failures_in_a_row_) +
                                       " images all failed in the model: " + item.message;
        ready_.push_back(std::move(item));
    }
}

CaptionSummary captionImages(Engine& engine, LibraryDb& db, const CaptionJob& job,
                             const std::function<void(const CaptionItem&)>& on_item,
                             const std::function<void(const CaptionProgress&)>& on_progress,
                             const std::atomic<bool>* cancel) {
    FolderCaptioner captioner(engine, db, job);
    while (auto item = captioner.next(on_progress, cancel)) {
        if (on_item)
            on_item(*item);
        if (on_progress && item->status != ItemStatus::Stopped)
            on_progress(captioner.progress());
    }
    return captioner.summary();
}

} // namespace vqa::library
