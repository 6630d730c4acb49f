// The caption metrics papers report, computed as the COCO caption evaluation computes them
// (pycocoevalcap: BLEU-1..4 with the "closest" reference length, ROUGE-L with beta 1.2, and
// CIDEr-D with sigma 6, clipping and its length penalty), on captions already tokenized the way
// that evaluation tokenizes them (CocoTokenizer.h: cocoTokenize).
//
// Torch-free: the CLI, the window and the tests include it.
#pragma once

#include <array>
#include <string>
#include <vector>

namespace vqa::eval {

// One image: its reference captions and the caption to score, each tokenized (cocoTokenize).
struct CaptionCase {
    std::vector<std::string> references;
    std::string candidate;
};

struct CaptionScores {
    std::array<double, 4> bleu{};  // BLEU-1 .. BLEU-4
    double rouge_l = 0;
    double cider_d = 0;
};

struct CaptionEvaluation {
    // BLEU over the whole set (n-gram counts and lengths summed over the images, as the COCO
    // evaluation reports it); ROUGE-L and CIDEr-D the mean of the images'.
    CaptionScores corpus;
    std::vector<CaptionScores> per_item;  // in the cases' order
};

// Scores every case. CIDEr-D's document frequencies come from the references of all the cases,
// so a case's CIDEr-D depends on the set it is scored in (as in the reference). Throws
// vqa::Error for a case without references. An empty set gives zeros.
CaptionEvaluation scoreCaptions(const std::vector<CaptionCase>& cases);

// The names the scores are reported under, in CaptionScores' order.
inline const std::array<const char*, 6> kCaptionMetricNames = {"BLEU-1", "BLEU-2", "BLEU-3",
                                                               "BLEU-4", "ROUGE-L", "CIDEr-D"};
// The score named kCaptionMetricNames[i].
double captionMetric(const CaptionScores& s, std::size_t i);

} // namespace vqa::eval
