import type { LicenseType } from "../../db/schema";

/** What a license lets its holder do with an image; shown in the API and printed on certificates. */
export type LicenseTerms = {
  name: string;
  summary: string;
  permittedUses: readonly string[];
  prohibitedUses: readonly string[];
  /** Most printed copies across all uses; null: unlimited. */
  printRunLimit: number | null;
  /** Most views or impressions of digital uses; null: unlimited. */
  digitalViewLimit: number | null;
  /** Product or merchandise made for resale (T-shirts, mugs, posters, templates). */
  merchandiseForResale: boolean;
  /** Advertising, marketing or any use that promotes a product, service or cause. */
  commercialUse: boolean;
};

const COMMON_PROHIBITED = [
  "Reselling, sublicensing or sharing the image file itself, or offering it for download as a stand-alone file",
  "Using the image in a trademark, logo or service mark",
  "Using the image in a way that is defamatory, pornographic or otherwise unlawful, or that shows a person in it in a sensitive light (health, sexuality, crime) without a clear notice that they are a model",
  "Training, fine-tuning or evaluating machine-learning models on the image",
  "Claiming authorship of the image or removing the contributor's credit where credit is customary",
] as const;

/**
 * The license terms Edgestock sells, as data, modelled on the usual stock-image licenses: the
 * standard license for everyday commercial use with a print run limit, the enhanced license
 * adding unlimited copies and merchandise, and the editorial license for news and commentary only.
 */
export const LICENSE_TERMS = {
  standard: {
    name: "Standard License",
    summary:
      "Use the image worldwide and in perpetuity in commercial and personal projects: websites, social media, advertising, packaging and print, up to 500,000 printed copies in total. Not for merchandise made for resale.",
    permittedUses: [
      "Websites, blogs, apps, e-mail and social media, with unlimited views",
      "Online and broadcast advertising, video and film",
      "Printed marketing material, packaging, books, magazines and newspapers, up to 500,000 copies in total",
      "Presentations, reports and internal documents",
      "Editing, cropping and combining the image with other works",
    ],
    prohibitedUses: [
      ...COMMON_PROHIBITED,
      "More than 500,000 printed copies in total",
      "Merchandise or products for resale where the image is the main value (T-shirts, mugs, posters, prints, cards, templates)",
    ],
    printRunLimit: 500_000,
    digitalViewLimit: null,
    merchandiseForResale: false,
    commercialUse: true,
  },
  enhanced: {
    name: "Enhanced License",
    summary: "Everything the Standard License allows, with unlimited printed copies and the right to use the image on merchandise and products for resale.",
    permittedUses: [
      "Every use the Standard License permits",
      "Unlimited printed copies",
      "Merchandise and products for resale (T-shirts, mugs, posters, prints, cards, calendars)",
      "Digital products for resale where the image is part of a larger design (templates, themes), not the file itself",
    ],
    prohibitedUses: [...COMMON_PROHIBITED],
    printRunLimit: null,
    digitalViewLimit: null,
    merchandiseForResale: true,
    commercialUse: true,
  },
  editorial: {
    name: "Editorial License",
    summary:
      "Use the image only to illustrate news, commentary, education or other editorial content of public interest. No commercial, advertising or promotional use; the image may not be altered beyond cropping and minor adjustments.",
    permittedUses: [
      "News articles, reports and broadcasts, in print and online",
      "Commentary, criticism, documentaries and non-fiction books",
      "Educational and academic material",
      "Cropping and minor adjustments of exposure and colour that do not change the meaning",
    ],
    prohibitedUses: [
      ...COMMON_PROHIBITED,
      "Any commercial, advertising, promotional or merchandising use, including to promote a publication",
      "Altering the image in a way that changes its meaning or misrepresents the people, places or events in it",
      "Implying that a person, brand or property shown endorses anything",
    ],
    printRunLimit: 500_000,
    digitalViewLimit: null,
    merchandiseForResale: false,
    commercialUse: false,
  },
} as const satisfies Record<LicenseType, LicenseTerms>;

/** The terms of one license type. */
export function licenseTerms(type: LicenseType): LicenseTerms {
  return LICENSE_TERMS[type];
}
